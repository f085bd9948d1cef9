/** @jsxImportSource hono/jsx */
// Create and edit forms for features and groups. A refused save (400, 409, 422) renders the
// form again with each problem under its field; a SQL error with a position shows the line
// with a caret and selects that character in the editor.
import type { Child, FC } from "hono/jsx";
import type { AuthContext } from "#shared/http/bindings.ts";
import {
  aggregationType,
  dataType,
  entityType,
  featureStatus,
  groupStatus,
  sourceType,
} from "#shared/registry/schemas.ts";
import type { FormValues, Problem } from "./form-values.ts";
import { Layout, Notice } from "./layout.tsx";

interface FieldProps {
  name: string;
  label: string;
  values: FormValues;
  problems: Map<string, Problem[]>;
  hint?: string;
}

const Errors: FC<{ id: string; problems?: Problem[] }> = ({ id, problems }) =>
  problems?.length ? (
    <div id={id} class="field-error" role="alert">
      {problems.map((p) => (
        <div>
          {p.path.includes(".") ? `${p.path}: ` : ""}
          {p.message}
        </div>
      ))}
    </div>
  ) : null;

const Input: FC<FieldProps & { type?: string; required?: boolean }> = (p) => (
  <div>
    <label for={p.name}>{p.label}</label>
    <input
      id={p.name}
      name={p.name}
      type={p.type ?? "text"}
      value={p.values[p.name] ?? ""}
      required={p.required}
      aria-invalid={p.problems.has(p.name) ? "true" : undefined}
      aria-describedby={p.problems.has(p.name) ? `${p.name}-error` : undefined}
    />
    {p.hint && <div class="muted">{p.hint}</div>}
    <Errors id={`${p.name}-error`} problems={p.problems.get(p.name)} />
  </div>
);

const Select: FC<FieldProps & { options: readonly string[]; empty?: string }> = (p) => (
  <div>
    <label for={p.name}>{p.label}</label>
    <select id={p.name} name={p.name} aria-invalid={p.problems.has(p.name) ? "true" : undefined}>
      {p.empty !== undefined && <option value="">{p.empty}</option>}
      {p.options.map((o) => (
        <option value={o} selected={p.values[p.name] === o}>
          {o}
        </option>
      ))}
    </select>
    <Errors id={`${p.name}-error`} problems={p.problems.get(p.name)} />
  </div>
);

const Check: FC<{ name: string; label: string; values: FormValues }> = (p) => (
  <label>
    <input type="checkbox" name={p.name} checked={p.values[p.name] === "on"} style="width:auto" /> {p.label}
  </label>
);

/** The SQL line a position (1-based, in the text) falls on, with a caret under it. */
function sqlCaret(sqlText: string, position: number) {
  const before = sqlText.slice(0, position - 1);
  const line = before.split("\n").length;
  const start = before.lastIndexOf("\n") + 1;
  const end = sqlText.indexOf("\n", start);
  const column = position - start;
  return { line, column, text: sqlText.slice(start, end < 0 ? undefined : end) };
}

const SqlField: FC<FieldProps> = (p) => {
  const problems = p.problems.get(p.name);
  const positioned = problems?.find((q) => q.position !== undefined);
  const sqlText = p.values[p.name] ?? "";
  const caret = positioned ? sqlCaret(sqlText, positioned.position!) : null;
  return (
    <div>
      <label for={p.name}>{p.label}</label>
      <textarea
        id={p.name}
        name={p.name}
        rows={10}
        spellcheck={false}
        aria-invalid={problems ? "true" : undefined}
        aria-describedby={problems ? `${p.name}-error` : undefined}
        data-error-position={positioned?.position}
      >
        {sqlText}
      </textarea>
      {p.hint && <div class="muted">{p.hint}</div>}
      <Errors id={`${p.name}-error`} problems={problems} />
      {caret && (
        <pre class="sql-caret">
          {`line ${caret.line}, column ${caret.column}:\n${caret.text}\n${" ".repeat(Math.max(0, caret.column - 1))}^`}
        </pre>
      )}
    </div>
  );
};

const FormPage: FC<{ auth: AuthContext; title: string; error?: string; children?: Child }> = (p) => (
  <Layout title={p.title} auth={p.auth} active="features">
    <p>
      <a href="/console/features">Features</a>
    </p>
    <h1>{p.title}</h1>
    {p.error && <Notice error>{p.error}</Notice>}
    {p.children}
  </Layout>
);

/** What a create or edit form gets: its values, and the problems of a refused save. */
interface FormProps {
  auth: AuthContext;
  mode: "create" | "edit";
  title: string;
  action: string;
  values: FormValues;
  problems: Map<string, Problem[]>;
  error?: string;
}

export const FeatureForm: FC<FormProps> = (p) => {
  const f = { values: p.values, problems: p.problems };
  return (
    <FormPage auth={p.auth} title={p.title} error={p.error}>
      <form method="post" action={p.action} novalidate>
        {p.mode === "create" && <Input name="name" label="Name" required {...f} hint="letters, digits and _" />}
        <Input name="displayName" label="Display name" required {...f} />
        <Input name="description" label="Description" {...f} />
        <Select name="dataType" label="Data type" options={dataType.options} {...f} />
        <Input name="embeddingDimension" label="Embedding dimension" type="number" {...f} />
        <Select name="sourceType" label="Source type" options={sourceType.options} {...f} />
        <Select name="aggregationType" label="Aggregation" options={aggregationType.options} empty="none" {...f} />
        <Input name="windowSizeSeconds" label="Window (seconds)" type="number" {...f} />
        <Input name="aggregationIntervalSeconds" label="Aggregation interval (seconds)" type="number" {...f} />
        <SqlField
          name="transformationSql"
          label="Transformation SQL"
          hint="Checked when saved: it must plan in the sandbox (:start_time and :end_time are bound)."
          {...f}
        />
        <SqlField
          name="validationRules"
          label="Validation rules (JSON)"
          hint='e.g. {"min": 0, "notNull": true}'
          {...f}
        />
        <Input name="tags" label="Tags (comma separated)" {...f} />
        {p.mode === "edit" && (
          <>
            <Select name="status" label="Status" options={featureStatus.options} {...f} />
            <Input name="changelog" label="Changelog" {...f} />
            <Check name="promote" label="Make a new version current (unchecked: stage it)" values={p.values} />
          </>
        )}
        <Errors id="form-error" problems={p.problems.get("(root)")} />
        <p>
          <button type="submit">{p.mode === "create" ? "Create feature" : "Save"}</button>
        </p>
      </form>
    </FormPage>
  );
};

export const GroupForm: FC<FormProps & { archiveAction?: string }> = (p) => {
  const f = { values: p.values, problems: p.problems };
  return (
    <FormPage auth={p.auth} title={p.title} error={p.error}>
      <form method="post" action={p.action} novalidate>
        {p.mode === "create" && <Input name="name" label="Name" required {...f} />}
        <Input name="displayName" label="Display name" required {...f} />
        <Input name="description" label="Description" {...f} />
        {p.mode === "create" && <Select name="entityType" label="Entity type" options={entityType.options} {...f} />}
        <Input name="ttlSeconds" label="TTL (seconds, empty: none)" type="number" {...f} />
        <Check name="onlineEnabled" label="Online" values={p.values} />
        <Check name="offlineEnabled" label="Offline" values={p.values} />
        <Input name="tags" label="Tags (comma separated)" {...f} />
        <Errors id="form-error" problems={p.problems.get("(root)")} />
        <p>
          <button type="submit">{p.mode === "create" ? "Create group" : "Save"}</button>
        </p>
      </form>
      {p.archiveAction && p.values.status !== groupStatus.enum.archived && (
        <form method="post" action={p.archiveAction}>
          <button class="danger" type="submit">
            Archive group
          </button>
        </form>
      )}
    </FormPage>
  );
};
