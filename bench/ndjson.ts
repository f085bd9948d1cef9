// A streamed NDJSON answer read line by line, as a client would: nothing holds the whole body.
export async function forEachNdjsonRow(body: ReadableStream<Uint8Array>, onRow: (row: any) => void): Promise<void> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    let nl = buffered.indexOf("\n");
    while (nl >= 0) {
      onRow(JSON.parse(buffered.slice(0, nl)));
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf("\n");
    }
  }
}
