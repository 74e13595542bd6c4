"""Optical-flow estimators behind one interface (:class:`FlowEstimator`), built by :func:`build_flow`."""

from stbn.models.flow.base import FlowEstimator, ZeroFlow
from stbn.models.flow.dis import DISFlow
from stbn.models.flow.factory import FlowKind, build_flow
from stbn.models.flow.pwcnet import PWCFlow, PWCNet, load_pwc_state_dict

__all__ = ["DISFlow", "FlowEstimator", "FlowKind", "PWCFlow", "PWCNet", "ZeroFlow", "build_flow", "load_pwc_state_dict"]
