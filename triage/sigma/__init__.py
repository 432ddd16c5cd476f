"""Sigma rules over every event record of a bundle.

pySigma parses and validates the rules and its Windows/Sysmon processing pipelines map logsources to
channels and event ids (:mod:`triage.sigma.load`); triage compiles each rule's condition tree to a small
picklable form (:mod:`triage.sigma.compile`) and evaluates that in Python (:mod:`triage.sigma.match`),
indexed by (channel, event id) and pre-filtered by the literal strings a rule cannot match without, so
a record meets only the rules that can match it. The EVTX parser calls the engine from its hot loop
(:mod:`triage.parsers.evtx.parser`); the analyzer (:mod:`triage.analyze.sigma_findings`) turns the per-log matches into one finding per
(rule, host).
"""
