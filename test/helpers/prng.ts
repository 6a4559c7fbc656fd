// One seeded PRNG for every randomised test (no library code imported here, so
// the conformance suite can use it and stay independent of our codec). The
// runtime vectors use the same one, so it lives in plain JS in runtimes/.
export { prng } from '../../runtimes/prng.mjs';
