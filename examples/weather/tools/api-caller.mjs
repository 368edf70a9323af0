export default function callApi(input, config) {
  return { url: `${process.env.API_BASE ?? ""}/${input.path ?? ""}`, config };
}
