/** @module A small argument parser: positionals, `--flag value`, `--flag=value`, `--no-flag`. */
import { TesseraError } from '../core/errors.ts';

export interface Args {
  positionals: string[];
  flags: Map<string, string | boolean>;
}

export function parseArgs(argv: readonly string[]): Args {
  const positionals: string[] = [];
  const flags = new Map<string, string | boolean>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { positionals.push(...argv.slice(i + 1)); break; }
    if (!a.startsWith('--')) { positionals.push(a); continue; }
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (a.startsWith('--no-')) flags.set(a.slice(5), false);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags.set(a.slice(2), argv[++i]);
    else flags.set(a.slice(2), true);
  }
  return { positionals, flags };
}

/** Reads a string flag (or an environment fallback); throws naming the flag when required and absent. */
export function str(args: Args, name: string, opts: { env?: string; fallback?: string; required?: boolean } = {}): string | undefined {
  const v = args.flags.get(name) ?? (opts.env ? process.env[opts.env] : undefined) ?? opts.fallback;
  if (v === true || v === false) throw new TesseraError('BAD_REQUEST', `--${name}: expected a value`, { field: name });
  if (v === undefined && opts.required) throw new TesseraError('BAD_REQUEST', `--${name}: required${opts.env ? ` (or set ${opts.env})` : ''}`, { field: name });
  return v;
}

export function int(args: Args, name: string, fallback?: number, min = 0, max = 2 ** 31 - 1): number | undefined {
  const v = args.flags.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || !/^-?\d+$/.test(v) || n < min || n > max) throw new TesseraError('BAD_REQUEST', `--${name}: expected an integer in [${min}, ${max}]`, { field: name });
  return n;
}

export function bool(args: Args, name: string, fallback: boolean): boolean {
  const v = args.flags.get(name);
  if (v === undefined) return fallback;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new TesseraError('BAD_REQUEST', `--${name}: expected true or false`, { field: name });
}

export function positional(args: Args, index: number, what: string): string {
  const v = args.positionals[index];
  if (v === undefined) throw new TesseraError('BAD_REQUEST', `missing ${what}`, { field: what });
  return v;
}
