export { add as run } from "./math/add.ts";
