/**
 * Compatibility stub: grants deployed before the provider moved to providers/ store a provider that loads
 * this file from the project directory at run time (`pulumi refresh` and `pulumi destroy` still run that
 * stored provider). It re-exports the admin-API client from its new home. Remove it only in a documented
 * release, after every stack has run `pulumi up` once with the current code.
 */
export * from "../clients/adminApi";
