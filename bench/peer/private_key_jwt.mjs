// The peer for bench/private_key_jwt.py: node-oidc-provider v9 configured as
// ../shared/bench/peer/server.mjs (client_credentials, in-memory adapter, opaque tokens),
// but its one client authenticates with private_key_jwt against a registered JWK Set.
// The in-memory adapter's ReplayDetection makes each assertion's jti single-use (per
// process: with WORKERS > 1 each node:cluster worker keeps its own).
// Usage: PEER_MODULES=<dir with node_modules> PEER_JWKS='{"keys":[...]}' [WORKERS=N]
//        node private_key_jwt.mjs PORT        (binds 127.0.0.1 only)
import cluster from 'node:cluster';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const workers = Number(process.env.WORKERS || 1);
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i += 1) cluster.fork();
  const stop = () => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const modules = process.env.PEER_MODULES;
  if (!modules) throw new Error('PEER_MODULES is not set');
  const jwks = JSON.parse(process.env.PEER_JWKS || 'null');
  if (!jwks) throw new Error('PEER_JWKS is not set');
  const { default: Provider } = await import(
    pathToFileURL(path.join(modules, 'node_modules/oidc-provider/lib/index.js')).href
  );
  const PORT = Number(process.argv[2] || 3000);
  const ISSUER = `http://127.0.0.1:${PORT}`;
  const provider = new Provider(ISSUER, {
    clients: [{
      client_id: 'bench-pkjwt',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks,
      scope: 'api:read api:write',
    }],
    scopes: ['api:read', 'api:write'],
    cookies: { keys: ['peer-cookie-key-not-secret'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
    },
    ttl: { ClientCredentials: 600 },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  provider.listen(PORT, '127.0.0.1', () => console.log(`peer listening on ${ISSUER}`));
}
