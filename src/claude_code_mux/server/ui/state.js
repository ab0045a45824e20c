// What the page knows: the config and status as the server last returned them, and what is being edited.

export const MASK = "********";
export const ROUTES = ["default", "background", "think", "websearch", "image", "long_context"];
export const state = { config: null, status: null, presets: [], editingProvider: null, editingModel: null };
