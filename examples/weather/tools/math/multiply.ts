export function run(input: { a: number; b: number }): number {
  return input.a * input.b;
}
