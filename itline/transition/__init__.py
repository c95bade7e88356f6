"""Transition: changes (standard, normal, emergency), templates, risk, collisions and freeze
windows, approvals and the CAB, the change calendar, releases, deployments and reviews."""
