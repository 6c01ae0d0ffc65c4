import { LocalStore } from '../storage/local.ts';
const s = new LocalStore('/tmp/simx/a');
const busy = setInterval(() => { for (let i = 0; i < 1e5; i++); }, 1);
const p = s.putContent(new Uint8Array(500));
const t = setTimeout(() => { console.log('HUNG'); process.exit(1); }, 5000);
console.log(await p); clearTimeout(t); clearInterval(busy);
// now: an async generator body consumed while another pipeline?
process.exit(0);
