require("../cache.js")("save");
