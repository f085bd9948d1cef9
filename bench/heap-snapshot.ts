// A V8 heap snapshot (.heapsnapshot) summed by constructor: what to compare between the start
// and the end of a long run to see what, if anything, grew.
import { readFileSync } from "node:fs";

export interface HeapClass {
  name: string;
  count: number;
  bytes: number;
}

export function summarizeSnapshot(file: string): Map<string, HeapClass> {
  const snapshot = JSON.parse(readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const stride = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const types = snapshot.snapshot.meta.node_types[0];
  const classes = new Map<string, HeapClass>();
  for (let i = 0; i < snapshot.nodes.length; i += stride) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    // Objects by constructor; everything else (strings, code, arrays' backing stores) by type.
    const name =
      type === "object" || type === "closure"
        ? `${type} ${snapshot.strings[snapshot.nodes[i + nameAt]!]}`
        : `(${type})`;
    const entry = classes.get(name) ?? { name, count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[i + sizeAt]!;
    classes.set(name, entry);
  }
  return classes;
}

/** The classes that grew most in bytes from `start` to `end`. */
export function growth(start: Map<string, HeapClass>, end: Map<string, HeapClass>, top = 8) {
  return [...end.values()]
    .map((e) => {
      const s = start.get(e.name);
      return { name: e.name, countDelta: e.count - (s?.count ?? 0), bytesDelta: e.bytes - (s?.bytes ?? 0) };
    })
    .sort((a, b) => b.bytesDelta - a.bytesDelta)
    .slice(0, top);
}
