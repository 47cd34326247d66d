"""
Saves small indexes with txtai-imagehash as of commit 5091f1f (the flat layout), so that tests can check that
indexes saved before the subpackage layout still load and answer the same.
"""
import json, os, shutil, subprocess, sys
os.environ["HF_HUB_OFFLINE"] = "1"
from PIL import Image
from skimage import data
from txtai import Embeddings
from txtai.app import Application
import txtai_imagehash
from txtai_imagehash import build, config, documents, search, vectorconfig, storage

out = sys.argv[1]
shutil.rmtree(out, ignore_errors=True)
images = os.path.join(out, "images")
os.makedirs(images)
names = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins"]
paths = []
for name in names:
    image = Image.fromarray(getattr(data, name)()).convert("RGB")
    image.thumbnail((160, 160))
    path = os.path.join(images, f"{name}.jpg")
    image.save(path, quality=80)
    paths.append(path)
ids = [(name, path) for name, path in zip(names, paths)]

# 1. the recipe: config() + documents()
e = Embeddings(config()); e.index(documents(ids)); e.save(os.path.join(out, "recipe"))
# 2. binary vectors, faiss and HammingIndex
e = Embeddings(config(vectors=True)); e.index(documents(ids)); e.save(os.path.join(out, "vectors"))
e = Embeddings(config(vectors={"backend": "hamming"})); e.index(documents(ids)); e.save(os.path.join(out, "hamming"))
# 3. build() with vectors and keypoints
e = build(ids, vectors=True, keypoints=True); e.save(os.path.join(out, "robust"))
# 4. command line index with keypoints (crash-safe versions)
subprocess.run([sys.executable, "-m", "txtai_imagehash", "index", images, "--index", os.path.join(out, "cli"), "--keypoints", "--quiet"], check=True)

# Expected answers, recorded with this code
query = os.path.join(images, "rocket.jpg")
crop = Image.open(query).convert("RGB").crop((40, 20, 120, 100))
crop.save(os.path.join(out, "query-crop.jpg"), quality=90)
expected = {}
for name in ["recipe", "vectors", "hamming"]:
    e = Embeddings(); e.load(os.path.join(out, name))
    expected[name] = {
        "sql": e.search(txtai_imagehash.query(txtai_imagehash.ImageHash()(query), select="id", metric="hamming", limit=3)),
        "count": e.count(),
    }
    if name != "recipe":
        expected[name]["vector"] = [[r[0], r[1]] for r in e.search(query, 3)] if False else [[r["id"], r["score"]] for r in e.search(query, 3)]
e = Embeddings(); e.load(os.path.join(out, "robust"))
expected["robust"] = {"search": search(e, query), "crop": search(e, os.path.join(out, "query-crop.jpg")), "count": e.count()}
e = storage.load(os.path.join(out, "cli"))
expected["cli"] = {"search": [dict(r, path=os.path.basename(r["path"])) for r in search(e, query)], "count": e.count()}
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, default=str)
print(json.dumps(expected, indent=1, default=str)[:3000])
