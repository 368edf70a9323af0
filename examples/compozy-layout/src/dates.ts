const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

export function formatDate(input: { date: string }) {
  const parsed = new Date(`${input.date}T00:00:00Z`);
  if (Number.isNaN(parsed.getTime())) {
    const err = new RangeError(`not a date: ${input.date}`);
    throw err;
  }
  return { iso: parsed.toISOString(), weekday: WEEKDAYS[parsed.getUTCDay()] };
}
