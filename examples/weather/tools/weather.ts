export interface WeatherInput {
  city: string;
  units: "metric" | "imperial";
}

export async function run(input: WeatherInput, config: { retries: number }) {
  const celsius = 12 + (input.city.length % 10);
  const temperature = input.units === "imperial" ? celsius * 1.8 + 32 : celsius;
  return { city: input.city, temperature, units: input.units, retries: config.retries };
}
