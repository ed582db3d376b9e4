import { Store } from "@cr/core";
import { imageCache } from "/work/main/packages/core/dist/store.js";
import { resolveChain } from "@cr/format";
for (let k = 0; k < 3; k++) {
const store = new Store("/tmp/dp/store100");
let t = performance.now();
const images = imageCache(store, "main");
for (let c = 1n; c <= 100n; c++) images.open(c);
const t1 = performance.now();
const top = images.open(100n); const map = top.pageMap();
const t2 = performance.now();
const runs = await resolveChain(100n, images.open);
const t3 = performance.now();
console.log(`open100 ${(t1-t).toFixed(1)} pageMap ${(t2-t1).toFixed(1)} (entries ${map.length}) resolve ${(t3-t2).toFixed(1)}`);
images.close();
}
