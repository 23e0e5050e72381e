// @ts-check
import eslint from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "bin/", "**/*.js", "**/*.mjs"] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.mocha } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Outputs must never be interpolated into plain template strings; pulumi.interpolate exists for that.
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.property.name='apply'] NewExpression",
          message: "Never create resources inside apply(); pass Outputs as inputs instead.",
        },
      ],
    },
  },
);
