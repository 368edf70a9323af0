export function countWords(text: string): number {
  const words = text.trim().split(/\s+/u).filter((w) => w.length > 0);
  return words.length;
}
