-- Argo CD health of an mcpops.dev MCPServer (resource.customizations.health.mcpops.dev_MCPServer).
-- Reads only status.phase, status.conditions and status.observedGeneration.
local hs = {}

local function condition(conditions, kind)
  for _, c in ipairs(conditions or {}) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

local function said(c)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return nil
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report status"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local phase = obj.status.phase or "Unknown"
local ready = condition(obj.status.conditions, "Ready")
local degraded = condition(obj.status.conditions, "Degraded")
local progressing = condition(obj.status.conditions, "Progressing")

-- A person paused the rollout (annotation mcpops.dev/paused=true): not a failure, on hold.
if phase == "Paused" then
  hs.status = "Suspended"
  hs.message = said(progressing) or "rollout paused (annotation mcpops.dev/paused=true)"
  return hs
end

if is_true(degraded) or phase == "Failed" or phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = said(degraded) or said(ready) or ("phase " .. phase)
  return hs
end

if is_true(ready) and phase == "Healthy" then
  hs.status = "Healthy"
  hs.message = said(ready) or "serving"
  return hs
end

hs.status = "Progressing"
if is_true(progressing) then
  hs.message = phase .. ": " .. (said(progressing) or "rollout in progress")
else
  hs.message = phase .. ": " .. (said(ready) or "waiting for the serving revision")
end
return hs
