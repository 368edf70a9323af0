// The tool table, keyed by tool id, as Compozy's Bun runtime reads it: a default-exported object
// whose values are functions, methods or properties naming a function.
import { formatDate } from "./src/dates.ts";
import { countWords } from "./src/words.ts";

export default {
  word_count(input: { text: string }) {
    return { words: countWords(input.text) };
  },
  // A method, with the `with:` default (`separator`) and the tool's `config:` (`max_length`).
  slugify(input: { text: string; separator: string }, config: { max_length?: number }) {
    return { slug: slug(input.text, input.separator).slice(0, config.max_length ?? 80) };
  },
  // A property naming an imported function.
  format_date: formatDate,
};

function slug(text: string, separator: string): string {
  return text
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, separator)
    .replace(new RegExp(`^${separator}+|${separator}+$`, "g"), "");
}
