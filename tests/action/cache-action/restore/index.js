require("../cache.js")("restore");
