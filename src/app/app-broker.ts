// The App's topics on the broker seam (src/core/broker.ts): app.publish() and
// ws.publish() are carried to the Apps of other threads (ThreadBroker) or
// processes (wasmsocket/redis), and what they publish reaches this App's
// subscribers, framed once here. uWS.js has no such seam (its publish stays
// in one thread); this is the App's addition. No Node imports.
import type { Broker } from '../core/broker.js';
import type { TopicTree } from './topics.js';
import { frameOf } from './websocket.js';

const OP_TEXT = 1, OP_BINARY = 2;

/** Ties `tree` to `broker`: publishes made here go out, the broker's come in, topic changes are told. */
export function attachBroker(tree: TopicTree, broker: Broker): void {
  tree.onPublish = (topic, payload, binary, compress) => broker.publish(topic, payload, binary, compress);
  tree.onTopic = (topic, active) => { if (active) broker.topicAdded(topic); else broker.topicRemoved(topic); };
  broker.attach({
    // A broadcast (topic null) is the ws door's; the App publishes to topics only.
    deliver(topic, payload, binary, compress) {
      const n = topic === null ? 0 : tree.count(topic);
      if (n === 0) return 0;
      const opcode = binary ? OP_BINARY : OP_TEXT;
      tree.publish(topic!, frameOf(opcode, payload, false), payload, opcode, compress, null, true);
      return n;
    },
    topics: () => tree.names(),
  });
}
