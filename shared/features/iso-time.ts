// Times travel as epoch milliseconds whose fraction holds the microseconds PostgreSQL keeps
// (1764590400123.456 is .123456): a double tells every microsecond apart between the years
// 1834 and 2105 (|ms| < 2^42; outside, within 2 us), and Redis cells, Lua comparisons and JSON
// carry it unchanged, while cells written with whole milliseconds stay valid. Comparisons that
// decide answers (event time <= pair time) run in PostgreSQL on the exact values.
//
// isoFromMs: that time as ISO-8601 UTC text, Date#toISOString's form for whole milliseconds
// (".123Z") and six digits when there are microseconds (".123456Z"), several times faster than
// Date: reads format one timestamp per cell (a 100 x 10 online read formats 1,000, a
// 100,000-pair training set a million). The date part ("YYYY-MM-DDT") is kept per day: a
// training set's cells are spread over the days of its history, not one day.
const dayMs = 86_400_000;
/** Date parts by day number; cleared when full (a history of more than ~11 years of days). */
const dayPrefixes = new Map<number, string>();
const maxCachedDays = 4_096;

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

export function isoFromMs(epochMs: number): string {
  let ms = Math.floor(epochMs);
  let micros = Math.round((epochMs - ms) * 1000);
  if (micros === 1000) {
    ms += 1;
    micros = 0;
  }
  const text = isoFromWholeMs(ms);
  return micros === 0 ? text : `${text.slice(0, -1)}${pad3(micros)}Z`;
}

/** ISO-8601 text (up to 9 fractional digits, any offset) as epoch ms with microseconds; digits past the microsecond are dropped, never rounded into the next second. NaN when not a time. */
export function msFromIso(text: string): number {
  const fraction = /^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$/.exec(text);
  if (!fraction) return Date.parse(text);
  const [, head, digits, offset] = fraction as unknown as [string, string, string, string];
  const whole = Date.parse(`${head}.${digits.slice(0, 3).padEnd(3, "0")}${offset}`);
  const micros = Number(digits.slice(3, 6).padEnd(3, "0"));
  return micros === 0 ? whole : whole + micros / 1000;
}

function isoFromWholeMs(ms: number): string {
  // Checked here, not left to Date: the day cache would answer for 8.64e15 + 1 when the
  // day of 8.64e15 (the last valid time) is cached.
  if (!(Math.abs(ms) <= 8.64e15)) throw new RangeError("Invalid time value");
  const day = Math.floor(ms / dayMs);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    if (dayPrefixes.size >= maxCachedDays) dayPrefixes.clear();
    const text = new Date(ms).toISOString();
    prefix = text.slice(0, -13); // "YYYY-MM-DDT" (or "+YYYYYY-MM-DDT")
    dayPrefixes.set(day, prefix);
    return text;
  }
  let rest = ms - day * dayMs;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  return `${prefix}${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${pad3(rest - seconds * 1000)}Z`;
}
