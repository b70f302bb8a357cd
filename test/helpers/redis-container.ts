// Redis in a Docker container started with testcontainers.
//
// restart() and the port: with an ephemeral mapping (`-p 6379`) Docker may hand out a new host
// port each time the container starts again, which would break "same URL after restart". We
// therefore pick a free host port ourselves and bind it explicitly ({ container: 6379, host: N });
// Docker keeps that binding across stop/start of the same container, so restart() is a plain
// docker stop (or kill) + start and the URL never changes. Fault tests that need SIGSTOP-level
// control should still prefer startRedisProcess().
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort, sleep } from './ports.js';
import { onProcessExit } from './procs.js';
import { waitForPing } from './redis-ping.js';
import type { RedisHandle, RedisRestartOptions, StartRedisOptions } from './redis.js';

export const DEFAULT_IMAGE = 'redis:7';
const OFFLINE_IMAGE = 'local/redis:7'; // built by shared/scripts/docker-engine.sh (no registry here)

/** Must be set before testcontainers reads them (it does so lazily, at first use). */
function configureTestcontainersEnv(): void {
  // Ryuk's image cannot be pulled offline; we remove our containers ourselves.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  // Without it testcontainers on a host with /.dockerenv reports the bridge gateway as host.
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= 'localhost';
}

async function loadTestcontainers() {
  configureTestcontainersEnv();
  return import('testcontainers');
}

/** True when a Docker engine answers (quick socket check first, then a real ping). */
export async function dockerAvailable(timeoutMs = 5000): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  const tc = await loadTestcontainers();
  const probe = tc.getContainerRuntimeClient().then(
    () => true,
    () => false,
  );
  return Promise.race([probe, sleep(timeoutMs).then(() => false)]);
}

/**
 * REDIS_IMAGE, else redis:7 when present locally, else the offline local/redis:7 if present,
 * else redis:7 (pulled). Avoids a doomed registry pull on machines without network access.
 */
async function chooseImage(): Promise<string> {
  const explicit = process.env.REDIS_IMAGE;
  if (explicit) return explicit;
  const tc = await loadTestcontainers();
  const client = await tc.getContainerRuntimeClient();
  const has = (name: string) => client.image.exists(tc.ImageName.fromString(name)).catch(() => false);
  if (await has(DEFAULT_IMAGE)) return DEFAULT_IMAGE;
  if (await has(OFFLINE_IMAGE)) return OFFLINE_IMAGE;
  return DEFAULT_IMAGE;
}

export async function startRedisContainer(opts: StartRedisOptions = {}): Promise<RedisHandle> {
  const tc = await loadTestcontainers();
  const image = await chooseImage();
  const persistence = opts.persistence ?? false;
  // Docker publishes on 0.0.0.0; we talk to it over IPv4 loopback to avoid a ::1 detour.
  const host = '127.0.0.1';
  const hostPort = await freePort(host);
  const started = await new tc.GenericContainer(image)
    .withExposedPorts({ container: 6379, host: hostPort })
    .withCommand([
      'redis-server',
      '--protected-mode',
      'no',
      '--save',
      '',
      '--appendonly',
      persistence ? 'yes' : 'no',
      '--appendfsync',
      'always',
      '--dir',
      '/data',
    ])
    .withWaitStrategy(tc.Wait.forLogMessage('Ready to accept connections'))
    .withStartupTimeout(60_000)
    .start();
  const id = started.getId();
  // No Ryuk: if the run dies without teardown, remove the container with the CLI (sync).
  const unregister = onProcessExit(() => {
    spawnSync('docker', ['rm', '-f', id], { stdio: 'ignore', timeout: 10_000 });
  });
  await waitForPing(host, hostPort, 15_000, () => ` (container ${id.slice(0, 12)}, image ${image})`);

  const client = await tc.getContainerRuntimeClient();
  const docker = client.container.getById(id);
  let resumeTimer: NodeJS.Timeout | undefined;
  let paused = false;
  const clearResume = () => {
    if (resumeTimer) clearTimeout(resumeTimer);
    resumeTimer = undefined;
  };
  const unpause = async () => {
    if (!paused) return;
    paused = false;
    await docker.unpause();
  };

  return {
    kind: 'container',
    host,
    port: hostPort,
    url: `redis://${host}:${hostPort}`,
    async restart(ro: RedisRestartOptions = {}) {
      clearResume();
      await unpause();
      if (ro.signal === 'SIGKILL') await docker.kill();
      else await docker.stop({ t: 10 });
      if (ro.downMs) await sleep(ro.downMs);
      await docker.start();
      // Same HostConfig.PortBindings => same host port; wait until the proxy forwards again.
      await waitForPing(host, hostPort, 30_000, () => ` after restart (container ${id.slice(0, 12)})`);
    },
    // docker pause (cgroup freezer): the closest container equivalent of SIGSTOP.
    async pause(ms?: number) {
      clearResume();
      if (!paused) {
        paused = true;
        await docker.pause();
      }
      if (ms !== undefined) resumeTimer = setTimeout(() => void unpause().catch(() => undefined), ms);
    },
    async resume() {
      clearResume();
      await unpause();
    },
    async stop() {
      clearResume();
      await unpause().catch(() => undefined);
      await started.stop({ timeout: 5_000 });
      unregister();
    },
  };
}
