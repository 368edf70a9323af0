// A compozy tool: `run(input, config, ctx)` returns a JSON value, or a promise of one.
export interface HelloInput {
  name: string;
}

export function run(input: HelloInput): { greeting: string } {
  return { greeting: `Hello, ${input.name}!` };
}
