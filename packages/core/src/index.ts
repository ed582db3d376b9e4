export { FORMAT_MAJOR } from "@cr/format";
