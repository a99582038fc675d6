// Validates Kubernetes objects against the Kubernetes schemas (kubernetes-models, pinned in package-lock.json).
//   kubectl kustomize deploy/k8s/overlays/production | node deploy/k8s/tools/validate.mjs [label]
//   node deploy/k8s/tools/validate.mjs label < objects.yaml
// Reads a multi-document YAML stream on stdin; for each object finds the model of its apiVersion and kind and runs
// its schema validation (types, required fields, enumerations, formats such as quantities and int-or-string; the
// Kubernetes schemas allow fields they do not define, so a misspelt optional key is not caught here). Prints one line
// per object and a summary; exits 1 when an object is invalid, has an unknown apiVersion/kind, or the stream holds
// no object at all.
import { parseAllDocuments } from "yaml";

const label = process.argv[2] ?? "stdin";
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const text = Buffer.concat(chunks).toString("utf8");

let failures = 0;
let count = 0;
for (const document of parseAllDocuments(text)) {
  if (document.errors.length > 0) {
    console.log(`INVALID YAML: ${document.errors.map((e) => e.message).join("; ")}`);
    failures++;
    continue;
  }
  const object = document.toJS();
  if (object === null || object === undefined) continue;
  count++;
  const { apiVersion, kind } = object;
  const name = `${kind ?? "?"}/${object.metadata?.name ?? "?"} (${apiVersion ?? "?"})`;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    console.log(`INVALID ${name}: apiVersion and kind are required`);
    failures++;
    continue;
  }
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
  const modulePath = group === null ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
  let Model;
  try {
    Model = (await import(modulePath))[kind];
  } catch {
    Model = undefined;
  }
  if (typeof Model !== "function") {
    console.log(`UNKNOWN ${name}: no schema for this apiVersion and kind`);
    failures++;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`valid ${name}`);
  } catch (error) {
    const details = Array.isArray(error?.errors)
      ? error.errors.map((e) => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`).join("; ")
      : String(error?.message ?? error);
    console.log(`INVALID ${name}: ${details}`);
    failures++;
  }
}

if (count === 0) {
  console.log(`${label}: no Kubernetes object in the input`);
  process.exit(1);
}
console.log(`${label}: ${count - failures} of ${count} objects valid`);
process.exit(failures === 0 ? 0 : 1);
