// Svelte compiler settings for the UI (runes mode, Svelte 5).
export default { compilerOptions: { runes: true } };
