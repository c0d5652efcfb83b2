-- Argo CD health of an mcpops.dev CleanupPolicy
-- (resource.customizations.health.mcpops.dev_CleanupPolicy).
-- Reads only status.conditions (Ready, Blocked, Degraded) and status.observedGeneration.
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

local function said(c, default)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return default
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

local ready = condition(obj.status.conditions, "Ready")
local blocked = condition(obj.status.conditions, "Blocked")
local degraded = condition(obj.status.conditions, "Degraded")

-- The circuit breaker holds the policy until a person acknowledges: on hold, not failing.
if is_true(blocked) then
  hs.status = "Suspended"
  hs.message = said(blocked, "blocked: waiting for a person's acknowledgement")
  return hs
end

if is_true(degraded) then
  hs.status = "Degraded"
  hs.message = said(degraded, "degraded")
  return hs
end

if is_true(ready) then
  hs.status = "Healthy"
  hs.message = said(ready, "ready")
  return hs
end

hs.status = "Progressing"
hs.message = said(ready, "waiting for the first run")
return hs
