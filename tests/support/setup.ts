// Loaded by mocha before any test (see .mocharc.json). The program turns Node's stack traces off for speed
// (program/runtimeTuning.ts); tests keep them, so a failure points at its line.
process.env.SMARTSPACE_STACK_TRACES = "1";
