"""Optical-flow estimators behind one interface (:class:`FlowEstimator`)."""

from stbn.models.flow.base import FlowEstimator, ZeroFlow

__all__ = ["FlowEstimator", "ZeroFlow"]
