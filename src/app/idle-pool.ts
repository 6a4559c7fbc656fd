// Buffers kept between uses, by size, within a byte limit: the lent-message
// pool (lend.ts) and the frame pool (frame-pool.ts). When a buffer does not
// fit, the other sizes make room: the sizes used lately win. No Node imports.

export class IdlePool<T> {
  private readonly lists = new Map<number, T[]>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes kept idle now. */
  get idleBytes(): number { return this.bytes; }

  /** A kept buffer of `size` bytes, or undefined. */
  take(size: number): T | undefined {
    const item = this.lists.get(size)?.pop();
    if (item !== undefined) this.bytes -= size;
    return item;
  }

  /** Whether `size` more bytes fit, once the other sizes have made room if needed. */
  room(size: number): boolean {
    if (this.bytes + size <= this.maxBytes) return true;
    for (const [s, list] of this.lists) {
      if (s === size) continue;
      this.bytes -= s * list.length;
      this.lists.delete(s);
    }
    return this.bytes + size <= this.maxBytes;
  }

  /** Keeps `item` of `size` bytes (room(size) said yes). */
  add(size: number, item: T): void {
    let list = this.lists.get(size);
    if (list === undefined) this.lists.set(size, list = []);
    list.push(item);
    this.bytes += size;
  }
}
