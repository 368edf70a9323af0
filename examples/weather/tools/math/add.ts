export function add(input: { a: number; b: number }): number {
  return input.a + input.b;
}
