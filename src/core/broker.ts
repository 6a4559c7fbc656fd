// The broker seam under wss.broadcast()/wss.publish(). Without a broker the
// server's fan-out is local to its process (broadcast.ts). A broker carries
// what this process publishes to other processes and hands what they publish
// to this process's local fan-out, as socket.io's Adapter does for rooms.
// wasmsocket/redis is one implementation.

/** What a broker delivers into: the server's local fan-out (framed once per process). */
export interface BrokerSink {
  /** Delivers a message from another process to local sockets; `topic` null is a broadcast. */
  deliver(topic: string | null, payload: Uint8Array, binary: boolean, compress: boolean): number;
  /** Topics that have local subscribers now (a broker attaching late subscribes to these). */
  topics(): Iterable<string>;
}

export interface Broker {
  /** Called once by wss.useBroker(). */
  attach(sink: BrokerSink): void;
  /**
   * A message this process published, already delivered to its own sockets.
   * Must not block, throw, or grow memory without bound when the remote side is down.
   */
  publish(topic: string | null, payload: Uint8Array, binary: boolean, compress: boolean): void;
  /** The first local subscriber of `topic` arrived. */
  topicAdded(topic: string): void;
  /** The last local subscriber of `topic` left. */
  topicRemoved(topic: string): void;
  /** Releases the broker's connections (wss.close() calls it). */
  close(): Promise<void>;
}
