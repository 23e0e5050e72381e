/**
 * OAuth scopes of the Smartspace APIs. App-only tokens for them are requested for `api://<Smartspace app
 * client ID>/.default` (../shared/smartspace-api.md); a configured override must keep the `/.default` form.
 */
export const API_SCOPE = /^(api:\/\/|https:\/\/)\S+\/\.default$/;

export const API_SCOPE_EXPECTED =
  "use an OAuth scope ending in /.default, such as api://<client id>/.default";

/** The app-only scope for the Smartspace APIs of the Smartspace app with this client ID. */
export function smartspaceScope(appClientId: string): string {
  return `api://${appClientId}/.default`;
}
