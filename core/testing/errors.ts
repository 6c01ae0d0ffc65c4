/** @module Test support: what a call throws, as one comparable line. */
import { TesseraError } from '../errors.ts';

/** `CODE: message` of the TesseraError `f` throws, the string of any other error, or 'no error'. */
export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof TesseraError ? `${e.code}: ${e.message}` : String(e);
  }
  return 'no error';
}
