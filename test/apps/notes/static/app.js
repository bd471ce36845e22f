// Lists the signed-in user's files.
async function listFiles(user) {
  const res = await fetch(`/files/${encodeURIComponent(user)}/`);
  return res.ok ? res.json() : [];
}
