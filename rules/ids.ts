/**
 * The shape of every Entra ID and Smartspace identifier the project handles (object IDs, client IDs, tenant
 * IDs, workspace IDs). One definition, so that config validation, the CLIs and the policy pack agree.
 *
 * components/workspaceAccess.ts keeps a copy of the pattern on purpose: its provider is serialized into
 * state, and importing this module would copy it in by value.
 */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
