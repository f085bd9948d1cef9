// A streamed NDJSON answer read line by line, as a client would: nothing holds the whole body.
export async function forEachNdjsonLine(
  body: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    let start = 0;
    let nl = buffered.indexOf("\n");
    while (nl >= 0) {
      onLine(buffered.slice(start, nl));
      start = nl + 1;
      nl = buffered.indexOf("\n", start);
    }
    buffered = buffered.slice(start);
  }
}

export function forEachNdjsonRow(body: ReadableStream<Uint8Array>, onRow: (row: any) => void): Promise<void> {
  return forEachNdjsonLine(body, (line) => onRow(JSON.parse(line)));
}
