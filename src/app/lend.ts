// Lending: a handler gets an ArrayBuffer that is detached when it returns
// (uWS.js neuters its own the same way), so a reference kept past the handler
// reads as empty and a new view of it throws, instead of showing later bytes.
// No Node imports.

// ArrayBuffer.prototype.transfer (Node >= 21, Deno, Bun) moves without a copy:
// ~0.25 µs a message on Node 22-24 over the allocation; structuredClone's
// transfer where it is missing costs ~0.9 µs (Node 20).
const transfer = (ArrayBuffer.prototype as { transfer?: () => ArrayBuffer }).transfer;

/** Detaches `ab` (a no-op if it is detached already). */
export function detach(ab: ArrayBuffer): void {
  try {
    if (transfer !== undefined) transfer.call(ab);
    else structuredClone(ab, { transfer: [ab] });
  } catch { /* detached already */ }
}
