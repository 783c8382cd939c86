-- The W3C trace context (traceparent, tracestate, baggage as a URL query)
-- of the span that created a run, so that stages reached through
-- PostgreSQL rather than a message (deliveries, assembly) join the run's
-- one trace. Empty for runs created before tracing or outside a trace.
ALTER TABLE ferry.runs ADD COLUMN trace_context text NOT NULL DEFAULT '';
