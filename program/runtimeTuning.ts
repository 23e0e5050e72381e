/**
 * Imported first by the program, before any resource is declared.
 *
 * The Pulumi Node.js SDK records a stack trace for every promise it creates (`debuggablePromise`), and the
 * CLI's language host installs source-map-support, which maps every frame of every such trace through
 * source maps. With the many Outputs of real provider resources, that bookkeeping dominates `pulumi preview`
 * for large stacks (several times the cost of registering the resources). The traces are only ever read by
 * `PULUMI_DEBUG_PROMISE_LEAKS`, so the program turns them off.
 *
 * What still works: Pulumi's own source positions (it raises the limit itself while capturing them), error
 * messages, and our configuration and lookup errors, which are written to be read without a stack. Set
 * `SMARTSPACE_STACK_TRACES=1` (or `PULUMI_DEBUG_PROMISE_LEAKS`) to keep full traces when debugging.
 */
if (!process.env.SMARTSPACE_STACK_TRACES && !process.env.PULUMI_DEBUG_PROMISE_LEAKS) {
  Error.stackTraceLimit = 0;
}

export {};
