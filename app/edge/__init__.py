"""What every request passes before and after its handler, in the order it passes it.

In: its id and log context (logs), its metrics (metrics), the answer cache for a cached
public read seen before (answers), its rate limits (limits), parameter syntax
(parameter_syntax), its body (bodies). Out: compression (compression) and the headers every
answer carries (headers). Per-request state is one typed value (state); public reads go to
the replica when it may serve them (public_reads).
"""
