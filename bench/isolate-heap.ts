// The JS heap of a workerd isolate, read over the V8 inspector (Chrome DevTools Protocol):
// a full GC first, so what is left is what the isolate holds, not garbage waiting for a
// collector that workerd lets grow as it likes.
import { writeFileSync } from "node:fs";
import WebSocket from "ws";

export interface IsolateHeap {
  /** MB of live heap after a full collection. */
  liveMb: () => Promise<number>;
  /** A heap snapshot (.heapsnapshot JSON, what Chrome DevTools opens), written to `file`. */
  snapshot: (file: string) => Promise<void>;
  close: () => void;
}

/** Connects to the inspector target whose title contains `title` (Miniflare names the user worker "core:user:"). */
/**
 * `pump`, when given, is a request made while a GC is asked for: workerd answers
 * HeapProfiler.collectGarbage only once its event loop turns, which an idle isolate's does not.
 */
export async function connectIsolateHeap(
  inspectorPort: number,
  title = "core:user:",
  pump?: () => Promise<unknown>,
): Promise<IsolateHeap> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as {
    title: string;
    webSocketDebuggerUrl: string;
  }[];
  const target = targets.find((t) => t.title.includes(title));
  if (!target) throw new Error(`no inspector target "${title}" among ${targets.map((t) => t.title).join(", ")}`);
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  let nextId = 0;
  const pending = new Map<number, (result: any) => void>();
  let chunks: string[] | null = null;
  socket.on("message", (data) => {
    const message = JSON.parse(String(data));
    if (message.method === "HeapProfiler.addHeapSnapshotChunk") chunks?.push(message.params.chunk);
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  });
  const call = (method: string) =>
    new Promise<any>((resolve) => {
      const id = ++nextId;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method }));
    });
  return {
    liveMb: async () => {
      const collected = call("HeapProfiler.collectGarbage");
      if (pump) await pump();
      await collected;
      const usage = await call("Runtime.getHeapUsage");
      return Math.round(usage.usedSize / 1e5) / 10;
    },
    snapshot: async (file) => {
      chunks = [];
      const taken = call("HeapProfiler.takeHeapSnapshot");
      if (pump) await pump();
      await taken;
      writeFileSync(file, chunks.join(""));
      chunks = null;
    },
    close: () => socket.close(),
  };
}
