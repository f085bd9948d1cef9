// Strings PostgreSQL can store as they are: text and jsonb refuse U+0000, and a lone
// surrogate has no UTF-8 form (the driver would send U+FFFD, a different string). Such input
// is refused with its path instead of failing deep in a statement (a 500) or changing silently.

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const unstorableMessage = "contains U+0000 or a lone surrogate, which cannot be stored";

export function isStorable(text: string): boolean {
  return !text.includes("\u0000") && !loneSurrogate.test(text);
}

/** The path of the first string (a key or a value) in `value` that cannot be stored, or null. */
export function unstorablePath(value: unknown, path: (string | number)[] = []): (string | number)[] | null {
  if (typeof value === "string") return isStorable(value) ? null : path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorablePath(value[i], [...path, i]);
      if (found) return found;
    }
  } else if (value && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (!isStorable(key)) return [...path, key];
      const found = unstorablePath(item, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}
