// tsc does not copy non-TS assets: the Lua scripts ship next to the compiled loader.
import { cpSync } from 'node:fs';
cpSync('src/redis/lua', 'dist/redis/lua', { recursive: true });
