// Runs the codec vectors in the page (?scalar=1: with the scalar build forced)
// and leaves the result in window.__vectors for the driver.
import * as codec from 'wasmsocket/codec';
import { DATA_FILES, runVectors } from '../vectors-runner.mjs';

const scalar = new URLSearchParams(location.search).get('scalar') === '1';
const load = async (name) => (await fetch('/' + DATA_FILES[name])).json();
try {
  window.__vectors = await runVectors(codec, load, scalar ? { scalar: 'api' } : {});
} catch (e) {
  window.__vectors = { passed: 0, failed: 1, failures: [String(e && e.stack ? e.stack : e)] };
}
document.getElementById('out').textContent = JSON.stringify(window.__vectors, null, 2);
