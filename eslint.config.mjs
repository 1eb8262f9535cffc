// typescript-eslint's recommended rules, Pulumi's own plugin (an Output in a
// template literal is a bug) and a few correctness rules of our own.
import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";

export default tseslint.config({ ignores: ["bin/", "bin-*/", "node_modules/", "eslint.config.mjs"] }, ...tseslint.configs.recommended, {
    // The Pulumi rule needs type information to know what is an Output.
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { "@pulumi": pulumi },
    rules: {
        "@pulumi/no-output-in-template-literal": "error",
        eqeqeq: "error",
        curly: "error",
        "prefer-const": "error",
        "@typescript-eslint/no-explicit-any": "error",
    },
});
